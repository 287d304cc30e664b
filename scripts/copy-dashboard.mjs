// Copies the admin dashboard's static files (plain HTML, JS and CSS, no build
// of their own) beside the built admin server, which serves them from
// dist/admin/dashboard/.
import { cp } from 'node:fs/promises';

await cp('src/admin/dashboard', 'dist/admin/dashboard', { recursive: true });
console.log('dist/admin/dashboard: copied');
