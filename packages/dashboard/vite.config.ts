import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The API the dev server proxies `/api` and `/metrics` to (default: the sidecar's default address). */
const apiUrl = process.env.DTM_API_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: apiUrl, changeOrigin: true },
      '/metrics': { target: apiUrl, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/api': { target: apiUrl, changeOrigin: true },
      '/metrics': { target: apiUrl, changeOrigin: true },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
