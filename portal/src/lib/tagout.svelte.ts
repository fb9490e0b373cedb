import { call, client } from './api';

/**
 * Equipment tagged out now: an open out-of-tolerance case and no passing calibration since
 * (GET /oot-cases?state=open). Pages mark it "do not use" and link to its case.
 */
export async function taggedOut(signal?: AbortSignal): Promise<Map<string, string>> {
  const { items } = await call(client.GET('/oot-cases', { params: { query: { state: 'open' } }, signal }));
  return new Map(items.filter((c) => c.progress.taggedOut).map((c) => [c.equipment, c.id]));
}

export type MaintenanceItem =
  Awaited<ReturnType<typeof maintenanceBoard>> extends Map<string, infer T> ? T : never;

/**
 * Equipment with preventive-maintenance plans or out of service (GET /maintenance), by tag:
 * out of service is a tag-out too (a person took it out, or it waits for a calibration after a
 * repair); the board shows it with the next preventive task.
 */
export async function maintenanceBoard(signal?: AbortSignal) {
  const { items } = await call(client.GET('/maintenance', { signal }));
  return new Map(items.map((i) => [i.tag, i]));
}
