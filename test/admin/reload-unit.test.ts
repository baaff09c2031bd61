/** Which changed settings need a restart (src/reload.ts restartOnlyChanges). */
import t from 'tap'
import { applyDefaults } from '../../src/config/defaults.js'
import { restartOnlyChanges } from '../../src/reload.js'

const base = applyDefaults({}, [])

t.test('listen, tls, plugin_dirs, log format and state need a restart; the rest does not', async (t) => {
  t.same(restartOnlyChanges(base, base, false), [])
  t.same(restartOnlyChanges(base, applyDefaults({ server: { listen: '127.0.0.1:9999' } }, []), false), ['server.listen'])
  t.same(restartOnlyChanges(base, applyDefaults({ server: { listen: '127.0.0.1:9999' } }, []), true), [], '--listen on the command line wins')
  t.same(restartOnlyChanges(base, applyDefaults({ server: { tls: { cert_file: 'c', key_file: 'k' } } }, []), false), ['server.tls'])
  t.same(restartOnlyChanges(base, applyDefaults({ plugin_dirs: ['x'] }, []), false), ['plugin_dirs'])
  t.same(restartOnlyChanges(base, applyDefaults({ logging: { format: 'pretty' } }, []), false), ['logging.format'])
  t.same(restartOnlyChanges(base, applyDefaults({ state: { store: 'redis' } }, []), false), ['state'])
  t.same(restartOnlyChanges(base, applyDefaults({ logging: { level: 'debug' }, routing: { debug: true }, server: { keepalive_ms: 1 } }, []), false), [], 'reloadable settings')
})
