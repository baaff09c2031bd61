/** `cc-relay config init`: a commented starter config that validates as it is (test/cli.test.ts). */
export const STARTER_CONFIG = `# cc-relay configuration. Every key and its default: docs/configuration.md (in the cc-relay repository).
# \${VAR} must be set in the environment; \${VAR:-default} falls back.

server:
  listen: "127.0.0.1:8787"
  auth:
    # A relay key clients must send (x-cc-relay-key, x-api-key or Authorization: Bearer). Empty = open.
    api_key: "\${RELAY_API_KEY:-}"
    # Forward a client's own Claude login or API key to anthropic providers.
    allow_subscription: true
    # Only these networks may call (CIDRs, IPv4 or IPv6); empty = any.
    # allow_ips: ["10.0.0.0/8"]
    # Team members, each with a key, in a group that says which models they may use and what they may
    # spend (docs/configuration.md "Team policy").
    # groups:
    #   - { name: interns, models: ["claude-haiku-*", "claude-sonnet-*"], member_budget: { usd: 20, period: week } }
    # clients:
    #   - { name: alice, key: "\${ALICE_RELAY_KEY}", group: interns }

providers:
  - name: anthropic
    type: anthropic
    # Pooled team keys; without any, clients use their own login (allow_subscription above).
    keys: []
    # keys:
    #   - key: "\${ANTHROPIC_API_KEY}"
    #     rpm_limit: 50
    #     tpm_limit: 100000
    # model_mapping: { "claude-haiku-*": "claude-haiku-4-5-20251001" }

  # - name: bedrock
  #   type: bedrock
  #   aws_region: us-east-1          # credentials: the AWS chain, or aws_access_key_id / aws_secret_access_key
  #   model_mapping: { "claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0" }
  #   keys: [{ key: bedrock-internal, rpm_limit: 100 }]   # a pool slot with its own limits

routing:
  strategy: failover     # failover | round_robin | weighted_round_robin | shuffle | least_loaded | weighted_failover | model_based
  max_attempts: 3
  # Request-shape rules, first match wins; no match: the strategy over every provider (docs/routing.md).
  # rules:
  #   - name: background            # Claude Code's Haiku calls (titles, summaries) to a local model
  #     when: { model: "claude-haiku-*" }
  #     use: { providers: [ollama], model: "qwen3-coder:30b" }
  #   - name: long-context          # long conversations to a provider with a bigger window
  #     when: { min_input_tokens: 60000 }
  #     use: { providers: [anthropic] }
  #   - name: thinking              # thinking turns to a reasoning model
  #     when: { thinking: true }
  #     use: { providers: [deepseek], model: "deepseek-reasoner" }
  #   - name: web-search            # Anthropic's server-side web search works only there
  #     when: { tools: ["web_search*"] }
  #     use: { providers: [anthropic] }

logging:
  level: info
  format: json           # json | pretty
`
