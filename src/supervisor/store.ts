/**
 * Where the supervisor's state lives. `MemoryStore` keeps it in this process; a shared store (Redis, for
 * several relays serving one team) implements the same `handle`, so routing code does not change.
 */
import type { ProviderPlugin } from '../../plugins/sdk.js'
import type { RelayConfig } from '../config/types.js'
import type { SupervisorMessage, SupervisorReply } from '../shared/protocol.js'
import { reduce } from './reduce.js'
import { buildState } from './state.js'
import type { SupervisorState } from './state.js'

export interface SupervisorStore {
  /** One message, one transition; an ask (lease, client admission) gets its reply. */
  handle(message: SupervisorMessage, now: number): SupervisorReply | undefined
  readonly state: SupervisorState
}

export class MemoryStore implements SupervisorStore {
  #state: SupervisorState

  constructor(config: RelayConfig, plugins: ReadonlyMap<string, ProviderPlugin>, random: () => number) {
    this.#state = buildState(config, plugins, random)
  }

  handle(message: SupervisorMessage, now: number): SupervisorReply | undefined {
    const { state, reply } = reduce(this.#state, message, now)
    this.#state = state
    return reply
  }

  get state(): SupervisorState {
    return this.#state
  }
}
