import { call, client } from './api';

/**
 * Equipment tagged out now: an open out-of-tolerance case and no passing calibration since
 * (GET /oot-cases?state=open). Pages mark it "do not use" and link to its case.
 */
export async function taggedOut(signal?: AbortSignal): Promise<Map<string, string>> {
  const { items } = await call(client.GET('/oot-cases', { params: { query: { state: 'open' } }, signal }));
  return new Map(items.filter((c) => c.progress.taggedOut).map((c) => [c.equipment, c.id]));
}
