/** test/e2e/team-policy.test.ts again, every relay on `state.store: redis` (test/helpers/on-redis-store.ts). */
import { onRedisStore } from '../../helpers/on-redis-store.js'

onRedisStore('test/e2e/team-policy.test.ts')
