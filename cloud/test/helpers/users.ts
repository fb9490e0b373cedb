import type { createAccounts } from '../../src/access/accounts.js';
import type { Role } from '../../src/access/policy.js';

/** A test user: name (also the e-mail's local part), role, sites (null: every site), US person. */
export type TestUser = [who: string, role: Role, sites: string[] | null, usPerson: boolean];

/** Creates each user in `tenant` as `<who>@<tenant>.example`, named `<who> name`, with its password from `passwords`. */
export async function createUsers(
  accounts: ReturnType<typeof createAccounts>,
  tenant: string,
  users: readonly TestUser[],
  passwords: Record<string, string>,
): Promise<void> {
  const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
  for (const [who, role, sites, usPerson] of users)
    await accounts.users.create(by, tenant, {
      email: `${who}@${tenant}.example`,
      name: `${who} name`,
      role,
      sites,
      usPerson,
      password: passwords[who]!,
      mustChangePassword: false,
    });
}
