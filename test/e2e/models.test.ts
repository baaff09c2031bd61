/** GET /v1/models and /v1/models/{id}: Anthropic's shape and paging, through the running relay. */
import t from 'tap'
import type { Test } from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { startRelay } from '../helpers/relay.js'

const beforeStart = Date.now()
const relay = await startRelay(`server: { auth: { api_key: "relay-key" } }
providers:
  - name: a
    type: anthropic
    base_url: "http://127.0.0.1:9"
    model_mapping: { "claude-sonnet-4-6": "claude-sonnet-4-6-20260101", "claude-haiku-*": "claude-haiku-4-5" }
    models: ["claude-opus-4-8"]
  - name: off
    type: anthropic
    enabled: false
    models: ["hidden-model"]
`)
const afterStart = Date.now()
t.teardown(() => relay.stop())

/** Models carry the relay's start time (whole seconds, RFC 3339), which falls between these two readings. */
function assertStartTime(t: Test, createdAt: unknown): void {
  t.match(createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'RFC 3339, whole seconds')
  const ms = Date.parse(String(createdAt))
  t.ok(ms >= Math.floor(beforeStart / 1000) * 1000 && ms <= afterStart, `${String(createdAt)} is the relay's start`)
}
const get = async (path: string, key = 'relay-key') => {
  const res = await fetch(relay.url + path, { headers: { 'x-api-key': key } })
  return { res, body: (await res.json()) as Record<string, unknown> }
}

t.test('the list: mapping keys without wildcards and models of enabled providers', async (t) => {
  const { res, body } = await get('/v1/models')
  t.equal(res.status, 200)
  const startedAt = (body.data as { created_at: string }[])[0]?.created_at
  assertStartTime(t, startedAt)
  t.same(body, {
    data: [
      { type: 'model', id: 'claude-sonnet-4-6', display_name: 'claude-sonnet-4-6', created_at: startedAt },
      { type: 'model', id: 'claude-opus-4-8', display_name: 'claude-opus-4-8', created_at: startedAt },
    ],
    has_more: false,
    first_id: 'claude-sonnet-4-6',
    last_id: 'claude-opus-4-8',
  })
})

t.test('paging with limit, after_id and before_id', async (t) => {
  const first = await get('/v1/models?limit=1')
  t.same([first.body.first_id, first.body.has_more], ['claude-sonnet-4-6', true])
  const next = await get('/v1/models?limit=1&after_id=claude-sonnet-4-6')
  t.same([next.body.first_id, next.body.has_more], ['claude-opus-4-8', false])
  const back = await get('/v1/models?limit=1&before_id=claude-opus-4-8')
  t.same([back.body.first_id, back.body.last_id], ['claude-sonnet-4-6', 'claude-sonnet-4-6'])
  const bad = await get('/v1/models?limit=0')
  t.equal(bad.res.status, 400)
})

t.test('one model, an unknown one, and the relay key', async (t) => {
  const one = await get('/v1/models/claude-opus-4-8')
  t.equal(one.res.status, 200)
  t.equal(one.body.id, 'claude-opus-4-8')
  assertStartTime(t, one.body.created_at)
  t.equal((await get('/v1/models/hidden-model')).res.status, 404, 'a disabled provider lists nothing')
  t.equal((await get('/v1/models', 'wrong')).res.status, 401)
})

t.test('the official SDK pages through it', async (t) => {
  const sdk = new Anthropic({ baseURL: relay.url, apiKey: 'relay-key', maxRetries: 0 })
  const ids: string[] = []
  for await (const m of sdk.models.list({ limit: 1 })) ids.push(m.id)
  t.same(ids, ['claude-sonnet-4-6', 'claude-opus-4-8'])
})
