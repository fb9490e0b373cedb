import { describe, expect, it } from 'vitest';
import { keysetPage } from './keyset.js';

describe('keysetPage', () => {
  const cursor = { at: '2026-12-07T10:00:00.000Z', id: 'b' };
  it('pages oldest first after the cursor, ties broken by id', () => {
    expect(keysetPage('l.at', 'l.id', 'after', cursor)).toEqual({
      sql: '(l.at > ? OR (l.at = ? AND l.id > ?))',
      params: [cursor.at, cursor.at, 'b'],
    });
  });
  it('pages newest first before the cursor', () => {
    expect(keysetPage('created_at', 'id', 'before', cursor)).toEqual({
      sql: '(created_at < ? OR (created_at = ? AND id < ?))',
      params: [cursor.at, cursor.at, 'b'],
    });
  });
});
