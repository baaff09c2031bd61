/** `cc-relay status`: placeholder until the status command lands. */
export async function statusCommand(_opts: { url?: string | undefined; config?: string | undefined }): Promise<number> {
  process.stderr.write('cc-relay: status is not built yet\n')
  return 1
}
