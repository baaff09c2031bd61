/** `cc-relay claude-code setup`: placeholder until the command lands. */
export async function claudeCodeSetup(_opts: { url?: string | undefined; key?: string | undefined; remove: boolean; config?: string | undefined }): Promise<number> {
  process.stderr.write('cc-relay: claude-code setup is not built yet\n')
  return 1
}
