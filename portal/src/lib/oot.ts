/**
 * Out-of-tolerance cases as the portal shows them (GET /oot-cases…): the answer types from the
 * generated API client, and the words for impacts, dispositions and a case's state.
 */
import type { paths } from './api-types.js';

export type CaseSummary =
  paths['/oot-cases']['get']['responses'][200]['content']['application/json']['items'][number];
export type CaseDetail = paths['/oot-cases/{id}']['get']['responses'][200]['content']['application/json'];
export type SuspectRecord = CaseDetail['suspects'][number];
export type Decision = CaseDetail['decisions'][number];

export const IMPACT_TEXT: Record<string, string> = {
  'no-impact': 'No impact',
  'possible-impact': 'Possible impact',
  nonconforming: 'Nonconforming',
};

export const DISPOSITION_TEXT: Record<string, string> = {
  'use-as-is': 'Use as is',
  're-test': 'Re-test',
  recall: 'Recall',
  scrap: 'Scrap',
};

export const SHIPMENT_TEXT: Record<string, string> = {
  'in-house': 'In house',
  shipped: 'Shipped',
  'at-customer': 'At customer',
  scrapped: 'Scrapped',
};

/** The case's state in a few words, and the tone of its badge. */
export function caseState(c: Pick<CaseSummary, 'state' | 'closedReason' | 'progress'>): {
  text: string;
  tone: 'bad' | 'late' | 'soon' | 'ok';
} {
  if (c.state === 'closed')
    return { text: c.closedReason === 'voided' ? 'Closed · entry withdrawn' : 'Closed', tone: 'ok' };
  if (c.progress.taggedOut) return { text: 'Open · do not use', tone: 'bad' };
  if (c.progress.undecided > 0) return { text: 'Open · decisions pending', tone: 'late' };
  return { text: 'Open · notification pending', tone: 'soon' };
}

/** "0.41 mm³/stroke" style number: at most 6 significant digits, no float noise. */
export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return String(Number(n.toPrecision(6)));
}

/**
 * Where a suspect record found by the position the failed device sat in comes from: a record that
 * names the position (its value was read there) or one the rig made while the device was
 * installed. Empty for a record found otherwise (about the device, or listing it as a gauge).
 */
export function suspectPlace(r: { via?: string; position?: string | null; named?: boolean }): string {
  if (r.via !== 'position' || !r.position) return '';
  return r.named ? `named position ${r.position}` : `made while installed in ${r.position}`;
}
