#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so that `npx cleanstream` works from a checkout with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
