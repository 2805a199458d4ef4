/**
 * The metrics a report can rank, pivot and compare by. Kept free of imports so that command
 * definitions (flags, --help) can list them without loading the store.
 */
export const METRICS = ['final_test_err', 'best_test_err', 'final_train_err', 'final_test_loss', 'final_train_loss', 'time', 'images_per_sec'] as const;
export type Metric = (typeof METRICS)[number];

export const FORMATS = ['table', 'csv', 'json', 'markdown'] as const;
export type Format = (typeof FORMATS)[number];
