/** The live status page (`GET /status`): one self-contained HTML document that polls `/status.json`. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cc-relay status</title></head>
<body><h1>cc-relay</h1><pre id="raw">loading…</pre>
<script>
async function refresh() {
  const res = await fetch('status.json', { cache: 'no-store', credentials: 'same-origin' })
  document.getElementById('raw').textContent = JSON.stringify(await res.json(), null, 2)
}
refresh(); setInterval(refresh, 2000)
</script></body></html>
`
