import { defineConfig } from "vite";

// No framework plugin: esbuild compiles Preact's JSX (tsconfig's jsxImportSource).
export default defineConfig({
  base: "./",
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    // Size is reported by the build (and in docs/benchmarks.md): keep every asset a file.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    // hls.js is one lazily loaded chunk of about 600 kB (187 kB gzipped): the player's, not the first load's.
    chunkSizeWarningLimit: 650,
  },
});
