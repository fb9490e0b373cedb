import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defaultClientConditions, defineConfig } from 'vite';

// `npm run dev -w @rigtrace/portal` proxies the API to a running cloud (the demo's by default),
// so the portal and the API share one origin as they do when the cloud serves portal/dist.
const cloud = process.env.RIGTRACE_CLOUD_URL ?? 'http://127.0.0.1:47800';

export default defineConfig({
  base: '/',
  plugins: [svelte()],
  // Shared rules (the verdict function) come from @rigtrace/protocols' TypeScript sources, bundled in.
  resolve: { conditions: ['rigtrace-source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/api': { target: cloud, changeOrigin: false } } },
});
