/**
 * One versioned schema migration, the same change on both backends: version N means the same
 * change on SQLite and PostgreSQL, written in each one's DDL where the types differ (BLOB/BYTEA,
 * INTEGER/BIGINT, TEXT/TIMESTAMPTZ timestamps, 0|1 and BOOLEAN). Never edit a released
 * migration's SQL or data step: add a new one. Every tenant-owned table carries tenant_id; on
 * PostgreSQL it leads every primary key and every index except the three that serve the narrow
 * cross-tenant lookups (edge by id, token by hash), and every tenant-owned table has a row-level
 * security policy on `app.tenant_id`.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
  /**
   * What SQL alone cannot do on both backends (SQLite has no time zones), run after the DDL in
   * the same transaction, as the owner.
   */
  data?: (q: MigrationSql) => Promise<void>;
  /**
   * What the app role may do on the tables this migration creates (PostgreSQL). Re-applied at
   * every start: a later migration that changes what the app may do on a table restates the
   * table's whole grant, and the highest version's grant wins.
   */
  grants?: readonly TableGrant[];
  /** Functions this migration creates that the app role may execute, by signature. */
  execute?: readonly string[];
}

/** The app role's privileges on one table, as written after GRANT. */
export interface TableGrant {
  table: string;
  privileges: string;
}

/** A migration's data step's access to the database: `?` placeholders on both backends. */
export interface MigrationSql {
  all<T>(sql: string, params?: MigrationParams): Promise<T[]>;
  run(sql: string, params?: MigrationParams): Promise<void>;
}

export type MigrationParams = readonly (string | number | null)[];
