/** Where the store lives unless --db says otherwise (a module of its own: naming it loads no SQLite). */
export const DEFAULT_DB = 'results/ablate.db';
