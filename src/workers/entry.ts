/**
 * The piscina worker module. It loads the plugins and builds the runtime once per thread (piscina
 * awaits the exported promise before the first task), then runs each task until its stream ends.
 */
import { workerData } from 'node:worker_threads'
import type { RelayConfig } from '../config/types.js'
import { forwardFaultsToMain } from '../shared/faults.js'
import { loadPlugins } from '../shared/plugins.js'
import { PROTOCOL } from '../shared/protocol.js'
import type { WorkerTask } from '../shared/protocol.js'
import { WorkerRuntime } from './runtime.js'

export interface WorkerData {
  readonly config: RelayConfig
  readonly pluginSources: readonly string[]
}

async function init(): Promise<(task: WorkerTask) => Promise<string | void>> {
  // A plugin's stray throw (a timer, a rejected promise) is logged by the main thread; the thread and its streams go on.
  forwardFaultsToMain()
  const data = workerData as WorkerData
  const plugins = await loadPlugins(data.pluginSources)
  const runtime = new WorkerRuntime(data.config, new Map(plugins.map((p) => [p.type, p.plugin])))
  return async (task) => {
    if (task.v !== PROTOCOL) throw new Error(`task protocol ${task.v} != worker protocol ${PROTOCOL}`)
    if (task.kind === 'ping') return 'pong'
    return runtime.run(task)
  }
}

export default init()
