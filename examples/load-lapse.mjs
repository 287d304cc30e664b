// Shared by the example servers: the lapse instance from LAPSE_CONFIG.
import { createLapse, loadPolicyFile } from 'lapse';

/** createLapse() from the environment: LAPSE_CONFIG (policy file), LAPSE_ENV (environment). */
export async function lapseFromEnvironment() {
  const file = process.env.LAPSE_CONFIG ?? new URL('./apps.lapse.yaml', import.meta.url).pathname;
  return createLapse({
    policy: await loadPolicyFile(file),
    environment: process.env.LAPSE_ENV ?? 'development',
    loginUrl: '/login',
    // Plain http://localhost: the cookie cannot be Secure. Never set this in production.
    cookie: { development: true },
  });
}
