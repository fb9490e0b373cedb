import { call, client } from './api';
import type { Page, RegisterEntry } from './types';

/** The whole equipment register, in keyset pages of 1000 (capped at 50,000: the board is not a report). */
export async function loadRegister(signal?: AbortSignal, includeRetired = false): Promise<RegisterEntry[]> {
  const all: RegisterEntry[] = [];
  let after: string | null = null;
  for (let i = 0; i < 50; i++) {
    const page: Page<RegisterEntry> = await call(
      client.GET('/equipment', {
        params: {
          query: {
            limit: 1000,
            ...(after ? { after } : {}),
            ...(includeRetired ? { includeRetired: 'true' } : {}),
          },
        },
        ...(signal ? { signal } : {}),
      }),
    );
    all.push(...page.items);
    after = page.next;
    if (!after) break;
  }
  return all;
}
