#!/usr/bin/env node
// In this repository the CLI runs from its TypeScript sources, through tsx (which leaves the exit code as the
// CLI sets it); the published package's bin is the build of the same src/bin.ts (publishConfig.bin).
import { register } from 'tsx/esm/api';

register();
await import('../src/bin.ts');
