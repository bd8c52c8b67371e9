import uWS from 'uWebSockets.js';
const rate = Number(process.argv[2] ?? 50);
const app = uWS.App().ws('/live', {
  open: (ws) => { ws.subscribe('t'); ws.send('{"type":"snapshot","x":1}'); },
}).listen('127.0.0.1', 18555, (t) => { console.log('listening'); });
let n = 0;
setInterval(() => { app.publish('t', `{"type":"join","visitor":"pvbenchr1-${n++}","page":"/listings/1","online":12}`); }, 1000 / rate);
