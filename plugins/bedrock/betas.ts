/**
 * `anthropic-beta` → Bedrock's `anthropic_beta` body array, filtered to the flags Bedrock InvokeModel
 * accepts. Bedrock answers 400 "invalid beta flag" for the whole request when any one value is unknown
 * to it (wire-protocols §3.2; anthropics/claude-code#49370, #49648, #56595; litellm#19875), and Claude
 * Code always sends flags Bedrock does not know (`claude-code-20250219`, `oauth-2025-04-20`,
 * `prompt-caching-scope-2026-01-05`, `advisor-tool-2026-03-01`, …: wire-protocols §2.2), so forwarding
 * the header as it came would fail every Claude Code request.
 *
 * Evidence for each entry:
 * - LL-BETA: BerriAI/litellm `litellm/anthropic_beta_headers_config.json`, section `"bedrock"` (the
 *   Bedrock InvokeModel map; every non-null value is listed here, and its one rename is in RENAMES).
 * - AWS-REQ: AWS's "Anthropic Claude Messages API" request page lists the `anthropic_beta` values
 *   Bedrock documents (quoted in litellm#19875, "Supported Beta Flags (per AWS docs)").
 * A flag missing here is dropped (and named in the request log's notes), never sent.
 */

/** Flags Bedrock InvokeModel accepts. */
export const BEDROCK_BETAS: ReadonlySet<string> = new Set([
  // LL-BETA "bedrock"
  'compact-2026-01-12',
  'computer-use-2025-01-24',
  'computer-use-2025-11-24',
  'context-1m-2025-08-07',
  'context-management-2025-06-27',
  'dangerous-tool-use-2026-09-03',
  'effort-2025-11-24',
  'fine-grained-tool-streaming-2025-05-14',
  'mid-conversation-output-config-2026-07-01',
  'mid-conversation-tool-changes-2026-07-01',
  'thinking-binding-controls-2026-08-01',
  'thinking-display-updates-2026-08-18',
  'tool-search-tool-2025-10-19',
  // AWS-REQ (documented by AWS for Claude 3.7 / Claude 4 models on Bedrock)
  'computer-use-2024-10-22',
  'dev-full-thinking-2025-05-14',
  'interleaved-thinking-2025-05-14',
  'output-128k-2025-02-19',
  'token-efficient-tools-2025-02-19',
  'tool-examples-2025-10-29',
])

/** Anthropic's name → Bedrock's name for the same feature (LL-BETA "bedrock"). */
const RENAMES: Readonly<Record<string, string>> = {
  'advanced-tool-use-2025-11-20': 'tool-search-tool-2025-10-19',
}

export interface BetaFilter {
  /** What Bedrock gets, in the client's order, without duplicates. */
  readonly kept: string[]
  /** What was dropped because Bedrock would reject it. */
  readonly dropped: string[]
}

/** Splits header values (`a,b, c`) and body values alike, renames, filters and dedupes. */
export function filterBetas(values: Iterable<string>): BetaFilter {
  const kept: string[] = []
  const dropped: string[] = []
  for (const raw of values) {
    for (const part of raw.split(',')) {
      const name = part.trim()
      if (!name) continue
      const bedrock = RENAMES[name] ?? name
      if (!BEDROCK_BETAS.has(bedrock)) {
        if (!dropped.includes(name)) dropped.push(name)
      } else if (!kept.includes(bedrock)) kept.push(bedrock)
    }
  }
  return { kept, dropped }
}
