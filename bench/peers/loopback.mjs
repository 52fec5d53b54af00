// Preloaded into the Portkey gateway (node --import) so that it listens on
// 127.0.0.1 only: its start-server.js takes a port but no host and would
// otherwise bind every interface. Patches only listen(port[, cb]) calls that
// name no host; everything else passes through untouched.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === "number" && (args[1] === undefined || typeof args[1] === "function")) {
        if (args[1] === undefined) {
            args[1] = "127.0.0.1";
        } else {
            args.splice(1, 0, "127.0.0.1");
        }
    }
    return listen.apply(this, args);
};
