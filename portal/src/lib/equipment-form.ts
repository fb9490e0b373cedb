/**
 * The register entry form: what a person types (every field a string), the entry it becomes for
 * POST /equipment and PUT /equipment/{tag}, and the cloud's validation errors mapped back to the
 * fields. The cloud's schema is the rule (cloud/CALIBRATION.md, Register); the form only checks
 * what it must to build the body (required fields, numbers), so both never disagree for long.
 */
import type { Equipment, OwnerKind } from './types';

export interface EquipmentDraft {
  tag: string;
  siteId: string;
  type: string;
  make: string;
  model: string;
  serial: string;
  firmware: string;
  location: string;
  ownerKind: OwnerKind;
  ownerName: string;
  intervalDays: string;
  intervalCycles: string;
  dueSoonDays: string;
  procedureId: string;
  procedureRevision: string;
  acceptanceCriteria: string;
  environment: string;
  rangeMin: string;
  rangeMax: string;
  rangeUnit: string;
  resolution: string;
  isStandard: boolean;
  stdCertificate: string;
  stdDueDate: string;
  stdUncertainty: string;
  stdUncertaintyUnit: string;
  /** '' when not export-controlled. Shown and sent only for users cleared for such data. */
  exportRegime: '' | 'ITAR' | 'EAR';
  exportEccn: string;
}

export const OWNER_LABEL: Record<OwnerKind, string> = {
  company: 'Ours',
  customer: 'Customer’s',
  supplier: 'Supplier’s',
  employee: 'An employee’s',
};

export function emptyEquipment(siteId = ''): EquipmentDraft {
  return {
    tag: '',
    siteId,
    type: '',
    make: '',
    model: '',
    serial: '',
    firmware: '',
    location: '',
    ownerKind: 'company',
    ownerName: '',
    intervalDays: '365',
    intervalCycles: '',
    dueSoonDays: '',
    procedureId: '',
    procedureRevision: '',
    acceptanceCriteria: '',
    environment: '',
    rangeMin: '',
    rangeMax: '',
    rangeUnit: '',
    resolution: '',
    isStandard: false,
    stdCertificate: '',
    stdDueDate: '',
    stdUncertainty: '',
    stdUncertaintyUnit: '',
    exportRegime: '',
    exportEccn: '',
  };
}

const s = (v: string | number | null | undefined) => (v === undefined || v === null ? '' : String(v));

export function draftOf(e: Equipment): EquipmentDraft {
  return {
    tag: e.tag,
    siteId: e.siteId,
    type: e.type,
    make: s(e.make),
    model: s(e.model),
    serial: s(e.serial),
    firmware: s(e.firmware),
    location: s(e.location),
    ownerKind: e.owner?.kind ?? 'company',
    ownerName: s(e.owner?.name),
    intervalDays: s(e.intervalDays),
    intervalCycles: s(e.intervalCycles),
    dueSoonDays: s(e.dueSoonDays),
    procedureId: s(e.procedure?.id),
    procedureRevision: s(e.procedure?.revision),
    acceptanceCriteria: s(e.acceptanceCriteria),
    environment: s(e.environment),
    rangeMin: s(e.range?.min),
    rangeMax: s(e.range?.max),
    rangeUnit: s(e.range?.unit),
    resolution: s(e.resolution),
    isStandard: e.referenceStandard !== undefined,
    stdCertificate: s(e.referenceStandard?.certificate),
    stdDueDate: s(e.referenceStandard?.dueDate),
    stdUncertainty: s(e.referenceStandard?.uncertainty),
    stdUncertaintyUnit: s(e.referenceStandard?.uncertaintyUnit),
    exportRegime: e.exportControl?.regime ?? '',
    exportEccn: s(e.exportControl?.eccn),
  };
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * The body the cloud takes (with `tag` for a new entry), or the fields that must change first.
 * `cleared`: the user may see export-controlled data (only then is exportControl sent).
 */
export function equipmentBody(
  d: EquipmentDraft,
  o: { create: boolean; cleared: boolean },
): { ok: true; body: Record<string, unknown> } | { ok: false; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const t = (v: string) => v.trim();
  const num = (k: keyof EquipmentDraft, v: string, int = false): number | undefined => {
    if (t(v) === '') return undefined;
    if (!NUMBER.test(t(v)) || (int && !Number.isInteger(Number(v)))) {
      errors[k] = int ? 'Enter a whole number.' : 'Enter a number.';
      return undefined;
    }
    return Number(v);
  };
  if (o.create && !t(d.tag)) errors.tag = 'Enter the asset tag.';
  if (!t(d.siteId)) errors.siteId = 'Choose the site.';
  if (!t(d.type)) errors.type = 'Enter the type of equipment, e.g. air gauge.';
  if (t(d.intervalDays) === '') errors.intervalDays = 'Enter the calibration interval in days.';
  const intervalDays = num('intervalDays', d.intervalDays, true);
  const intervalCycles = num('intervalCycles', d.intervalCycles, true);
  const dueSoonDays = num('dueSoonDays', d.dueSoonDays, true);
  const rangeMin = num('rangeMin', d.rangeMin);
  const rangeMax = num('rangeMax', d.rangeMax);
  const resolution = num('resolution', d.resolution);
  const uncertainty = num('stdUncertainty', d.stdUncertainty);
  const anyRange = [d.rangeMin, d.rangeMax, d.rangeUnit].some((v) => t(v) !== '');
  if (anyRange) {
    if (rangeMin === undefined && !errors.rangeMin) errors.rangeMin = 'Enter the lower end of the range.';
    if (rangeMax === undefined && !errors.rangeMax) errors.rangeMax = 'Enter the upper end of the range.';
    if (!t(d.rangeUnit)) errors.rangeUnit = 'Enter the range’s unit.';
  }
  if (t(d.procedureRevision) && !t(d.procedureId))
    errors.procedureId = 'Enter the procedure the revision is of.';
  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const opt = (k: string, v: string) => (t(v) ? { [k]: t(v) } : {});
  const body: Record<string, unknown> = {
    ...(o.create ? { tag: t(d.tag) } : {}),
    siteId: t(d.siteId),
    type: t(d.type),
    ...opt('make', d.make),
    ...opt('model', d.model),
    ...opt('serial', d.serial),
    ...opt('firmware', d.firmware),
    ...opt('location', d.location),
    owner: { kind: d.ownerKind, ...opt('name', d.ownerName) },
    intervalDays,
    ...(intervalCycles !== undefined ? { intervalCycles } : {}),
    ...(dueSoonDays !== undefined ? { dueSoonDays } : {}),
    ...(t(d.procedureId)
      ? { procedure: { id: t(d.procedureId), ...opt('revision', d.procedureRevision) } }
      : {}),
    ...opt('acceptanceCriteria', d.acceptanceCriteria),
    ...opt('environment', d.environment),
    ...(anyRange ? { range: { min: rangeMin, max: rangeMax, unit: t(d.rangeUnit) } } : {}),
    ...(resolution !== undefined ? { resolution } : {}),
    ...(d.isStandard
      ? {
          referenceStandard: {
            ...opt('certificate', d.stdCertificate),
            ...opt('dueDate', d.stdDueDate),
            ...(uncertainty !== undefined ? { uncertainty } : {}),
            ...opt('uncertaintyUnit', d.stdUncertaintyUnit),
          },
        }
      : {}),
    ...(o.cleared && d.exportRegime
      ? { exportControl: { regime: d.exportRegime, ...opt('eccn', d.exportEccn) } }
      : {}),
  };
  return { ok: true, body };
}

/** The cloud's error paths (`procedure.id`, `owner.kind`) as the form's field keys. */
const FIELD_OF: Record<string, keyof EquipmentDraft> = {
  'owner.kind': 'ownerKind',
  'owner.name': 'ownerName',
  'procedure.id': 'procedureId',
  'procedure.revision': 'procedureRevision',
  'range.min': 'rangeMin',
  'range.max': 'rangeMax',
  'range.unit': 'rangeUnit',
  'referenceStandard.certificate': 'stdCertificate',
  'referenceStandard.dueDate': 'stdDueDate',
  'referenceStandard.uncertainty': 'stdUncertainty',
  'referenceStandard.uncertaintyUnit': 'stdUncertaintyUnit',
  'exportControl.regime': 'exportRegime',
  'exportControl.eccn': 'exportEccn',
};
export function fieldOf(path: string): string {
  return FIELD_OF[path] ?? path;
}

/** The CSV template a lab fills from its old register (the cloud's import columns). */
export const REGISTER_CSV_TEMPLATE =
  'tag,siteId,type,make,model,serial,firmware,location,owner,ownerName,intervalDays,intervalCycles,dueSoonDays,procedureId,procedureRevision,acceptanceCriteria,environment,rangeMin,rangeMax,rangeUnit,resolution,referenceCertificate,referenceDueDate,referenceUncertainty,referenceUncertaintyUnit\n' +
  'GA-0104,plant-1,air gauge,Marposs,E9066,M-55123,,station 3,ours,,90,20000,14,CP-AG-004,C,±1 µm at 4 mm,20 ± 2 °C,,,,,,,,\n';
