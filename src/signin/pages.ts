/**
 * The pages a person sees while signing in: the device page (the code, pre-filled but never
 * auto-submitted, RFC 8628 §5.4) and the result after the IdP's callback. Plain HTML, no script; the
 * Content-Security-Policy lets the form go to this relay and (by redirect) to the IdP only.
 */
import type { Reply } from './http.js'

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.code{font:600 2rem ui-monospace,monospace;letter-spacing:.15em;margin:1rem 0}
input[name=user_code]{font:600 1.5rem ui-monospace,monospace;letter-spacing:.1em;width:12ch;text-transform:uppercase}
button{font-size:1rem;padding:.5rem 1rem;margin:.5rem .5rem 0 0}.error{color:#a32}.muted{color:#666}`

function page(title: string, body: string, formAction: string, status = 200): Reply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escape(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`
  const csp = `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`
  return { status, body: html, contentType: 'text/html; charset=utf-8', headers: ['content-security-policy', csp, 'x-frame-options', 'DENY'] }
}

export interface DevicePage {
  /** From `?user_code=`: shown in the form, never submitted for the user. */
  readonly prefill?: string
  readonly error?: string
  /** `'self'` plus the IdP's authorization origin (the form's redirect goes there). */
  readonly formAction: string
  readonly status?: number
}

export function devicePage({ prefill, error, formAction, status }: DevicePage): Reply {
  const problem = error ? `<p class="error" role="alert">${escape(error)}</p>` : ''
  if (prefill) {
    return page(
      'Approve sign-in',
      `<h1>Sign in to cc-relay</h1><p>Continue only if this code is the one your terminal shows.</p>${problem}
<form method="post" action="/device"><div class="code">${escape(prefill)}</div><input type="hidden" name="user_code" value="${escape(prefill)}">
<button type="submit" name="action" value="approve">It matches — continue</button><button type="submit" name="action" value="deny">Deny</button></form>`,
      formAction,
      status,
    )
  }
  return page(
    'Enter your code',
    `<h1>Sign in to cc-relay</h1><p>Enter the code your terminal shows; then you sign in with your company account.</p>${problem}
<form method="post" action="/device"><input name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX" required>
<button type="submit" name="action" value="approve">Continue</button></form>`,
    formAction,
    status,
  )
}

export function resultPage(outcome: { ok: true; email: string } | { ok: false; message: string }, status = outcome.ok ? 200 : 400): Reply {
  if (outcome.ok) {
    return page('Signed in', `<h1>You are signed in</h1><p>Signed in as <strong>${escape(outcome.email)}</strong>. Return to your terminal: it connects within a few seconds. You can close this tab.</p>`, "'none'", status)
  }
  return page('Sign-in failed', `<h1>Sign-in could not be completed</h1><p class="error" role="alert">${escape(outcome.message)}</p><p class="muted">Start the sign-in again from your terminal.</p>`, "'none'", status)
}

export function deniedPage(): Reply {
  return page('Sign-in stopped', `<h1>You stopped this sign-in</h1><p>No access was granted and the code no longer works. If you did not start it, tell your administrator.</p>`, "'none'")
}
