import { ApiError } from './api';

/** The one message line at the top of the page (errors, and the odd confirmation). */
class Notices {
  message = $state<string | null>(null);
  tone = $state<'error' | 'info'>('error');

  show(message: string, tone: 'error' | 'info' = 'error') {
    this.message = message;
    this.tone = tone;
  }

  clear() {
    this.message = null;
  }
}

export const notices = new Notices();

/** A sentence for a person, from any error the portal meets. */
export function describeError(err: unknown, context?: string): string {
  let text: string;
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'CLOUD_LOGIN_FAILED':
        text = 'The tenant, email or password is wrong.';
        break;
      case 'CLOUD_RATE_LIMITED':
        text = `Too many attempts. Try again in ${typeof err.problem.retryAfter === 'number' ? err.problem.retryAfter : 'a few'} seconds.`;
        break;
      case 'CLOUD_FORBIDDEN':
        text = 'Your role does not allow this.';
        break;
      case 'CLOUD_NOT_FOUND':
        text = 'Not found (or not in your tenant).';
        break;
      default:
        text = err.message || `The cloud answered ${err.status}.`;
    }
  } else {
    text = err instanceof Error ? err.message : String(err);
  }
  return context ? `${context}: ${text}` : text;
}

/**
 * Every UI error goes through here: a signed-out session sends the user to sign-in, anything
 * else is shown in the notice line and logged to the console.
 */
export function handleError(err: unknown, context?: string): string {
  if ((err as Error)?.name === 'AbortError') return '';
  const text = describeError(err, context);
  if (err instanceof ApiError && err.code === 'CLOUD_UNAUTHENTICATED') {
    window.dispatchEvent(new CustomEvent('rigtrace:signed-out'));
    notices.show('Your session has ended. Please sign in again.', 'info');
  } else {
    notices.show(text);
  }
  console.error(context ?? 'error', err);
  return text;
}
