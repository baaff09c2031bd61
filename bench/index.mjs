#!/usr/bin/env node
// The bench harness (mock upstream, load generator, relay-vs-direct report) is the next piece of work.
process.stdout.write('npm run bench: not yet — the bench harness arrives with its own issue.\n')
