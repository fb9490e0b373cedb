// Reminders: calibration due digests by e-mail and signed webhook, with a delivery log.
// The feature's public surface: other modules import from here, never from its files.

export { RemindersRepository } from './reminders.repository.js';
export { remindersApi, remindersRoutes } from './reminders.routes.js';
export { ReminderService } from './reminders.service.js';
export type { Clock } from './reminders.service.js';
