/**
 * Local days and times of a site's IANA time zone: the calendar rules of @rigtrace/protocols/calendar
 * (one copy, shared with the simulated calibration bench), re-exported for the cloud's modules.
 */
export * from '@rigtrace/protocols/calendar';
