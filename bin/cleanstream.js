#!/usr/bin/env -S node --max-semi-space-size=4
// A 4 MB young generation keeps ingest's RSS under 200 MB at 150k readings/s (ingest/README.md, Memory); it can only
// be set at start-up, hence the shebang (`node bin/cleanstream.js` without it: add it to NODE_OPTIONS).
// The CLI is TypeScript run through tsx, so that `npx cleanstream` works from a checkout with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
