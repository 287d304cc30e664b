// biome-ignore-all lint/style/noDefaultExport: the alias mirrors express, whose module is a default export.
// `express4` is Express 4 installed under an alias so the contract suite runs on 4 and 5;
// the example app only calls what both versions share, so Express 5's types describe it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
