import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The built page is embedded in the `trellis` binary and served at `/`;
// everything it loads comes from the same server (no CDN).
export default defineConfig({
  plugins: [react()],
  // One bundle of about 0.9 MB: it comes from the local server, never a
  // network, so splitting it buys nothing.
  build: { outDir: "dist", emptyOutDir: true, assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: { proxy: { "/v1": "http://127.0.0.1:8080", "/hooks": "http://127.0.0.1:8080" } },
});
