// PORT=3001 LAPSE_CONFIG=examples/apps.lapse.yaml node examples/fastify/server.mjs
import { lapseFromEnvironment } from '../load-lapse.mjs';
import { start } from './app.mjs';

const { url } = await start(await lapseFromEnvironment(), Number(process.env.PORT ?? 3001));
console.log(`fastify example listening on ${url}`);
