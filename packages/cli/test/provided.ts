// What @dtm/dev-db/vitest-setup provides, declared against this package's own vitest (pnpm may install a
// different copy for each package, and a module augmentation only reaches the copy it resolves to).
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export {};
