export * from './catalog.ts';
export * from './errors.ts';
export * from './reading.ts';
export * from './plants.ts';
export * from './config.ts';
export * from './coverage.ts';
export * from './reduction-figure.ts';
export * from './alert.ts';
