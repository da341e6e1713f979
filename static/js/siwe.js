// Sign-In with Ethereum (EIP-4361) for every [data-siwe-button]: the wallet signs a message naming
// this site and a server nonce; the server checks it and signs the user in (or links the wallet).
// Optional attributes on the button: data-siwe-nonce-url, data-siwe-verify-url.
(function () {
  "use strict";

  var NONCE_URL = "/auth/siwe/nonce/";
  var VERIFY_URL = "/auth/siwe/verify/";
  var HEADER = " wants you to sign in with your Ethereum account:";

  // --- Keccak-256 (the pre-standard padding Ethereum uses, not SHA3-256), for EIP-55 checksums.
  // Wallets return addresses in lower case; EIP-4361 and the server require the checksummed form.
  var MASK = (1n << 64n) - 1n;

  function rotl(v, n) {
    n %= 64;
    return n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK;
  }

  function keccakF(s) {
    var lfsr = 1;
    for (var round = 0; round < 24; round++) {
      var c = [], x, y, t;
      for (x = 0; x < 5; x++) c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
      for (x = 0; x < 5; x++) {
        var d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (y = 0; y < 25; y += 5) s[y + x] ^= d;
      }
      // rho and pi: walk the 24 lanes other than (0, 0), rotating each by the triangular numbers.
      x = 1; y = 0;
      var current = s[1];
      for (t = 0; t < 24; t++) {
        var nx = y, ny = (2 * x + 3 * y) % 5;
        x = nx; y = ny;
        var held = s[x + 5 * y];
        s[x + 5 * y] = rotl(current, ((t + 1) * (t + 2)) / 2);
        current = held;
      }
      for (y = 0; y < 25; y += 5) {
        var row = s.slice(y, y + 5);
        for (x = 0; x < 5; x++) s[y + x] = row[x] ^ ((~row[(x + 1) % 5] & MASK) & row[(x + 2) % 5]);
      }
      // iota: round constants from the LFSR x^8 + x^6 + x^5 + x^4 + 1 (FIPS 202, algorithm 5).
      for (var j = 0; j < 7; j++) {
        lfsr = ((lfsr << 1) ^ ((lfsr >> 7) * 0x71)) % 256;
        if (lfsr & 2) s[0] ^= 1n << BigInt((1 << j) - 1);
      }
    }
  }

  function keccak256Hex(bytes) {
    var rate = 136;
    var padded = new Uint8Array((Math.floor(bytes.length / rate) + 1) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    var s = [];
    for (var i = 0; i < 25; i++) s.push(0n);
    for (var off = 0; off < padded.length; off += rate) {
      for (var lane = 0; lane < rate / 8; lane++) {
        var v = 0n;
        for (var b = 7; b >= 0; b--) v = (v << 8n) | BigInt(padded[off + lane * 8 + b]);
        s[lane] ^= v;
      }
      keccakF(s);
    }
    var hex = "";
    for (var k = 0; k < 4; k++) {
      for (var byteIndex = 0; byteIndex < 8; byteIndex++) {
        hex += Number((s[k] >> BigInt(8 * byteIndex)) & 0xffn).toString(16).padStart(2, "0");
      }
    }
    return hex;
  }

  function toChecksumAddress(address) {
    var lower = address.toLowerCase().replace(/^0x/, "");
    var hash = keccak256Hex(new TextEncoder().encode(lower));
    var out = "0x";
    for (var i = 0; i < lower.length; i++) {
      out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    }
    return out;
  }

  // --- The EIP-4361 message, laid out exactly as the spec's ABNF (LF line ends, blank lines).
  function siteName() {
    var parts = document.title.split(" · ");
    var name = parts[parts.length - 1].trim() || location.host;
    // The statement may hold only RFC 3986 reserved and unreserved characters and spaces.
    return name.replace(/[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;= ]/g, "").trim();
  }

  function buildMessage(fields) {
    return [
      fields.domain + HEADER,
      fields.address,
      "",
      fields.statement,
      "",
      "URI: " + fields.uri,
      "Version: 1",
      "Chain ID: " + fields.chainId,
      "Nonce: " + fields.nonce,
      "Issued At: " + fields.issuedAt,
      "Expiration Time: " + fields.expirationTime,
    ].join("\n");
  }

  function utf8Hex(text) {
    var bytes = new TextEncoder().encode(text);
    var hex = "0x";
    for (var i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, "0");
    return hex;
  }

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|;\\s*)" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function statusFor(button) {
    for (var node = button.parentElement; node; node = node.parentElement) {
      var found = node.querySelector("[data-siwe-status]");
      if (found) return found;
    }
    return null;
  }

  function show(status, text, kind) {
    if (!status) return;
    status.textContent = text;
    status.className = status.className.replace(/\btext-(danger|success|body-secondary)\b/g, "").trim();
    status.classList.add(kind === "error" ? "text-danger" : kind === "ok" ? "text-success" : "text-body-secondary");
  }

  function walletErrorText(error) {
    if (error && error.code === 4001) return "You cancelled the request in your wallet.";
    if (error && error.code === -32002) return "Your wallet already has a request open; finish it there first.";
    return (error && error.message) || "The wallet reported an error.";
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (_) {
      return {};
    }
  }

  async function signIn(button) {
    var status = statusFor(button);
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      show(status, "No Ethereum wallet found. Install a browser wallet such as MetaMask, or open this page in your wallet app's browser.", "error");
      return;
    }
    var step = "wallet";
    try {
      show(status, "Waiting for your wallet…", "info");
      var accounts = await ethereum.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw { message: "Your wallet shared no account." };
      var address = toChecksumAddress(accounts[0]);
      var chainId = parseInt(await ethereum.request({ method: "eth_chainId" }), 16);

      step = "server";
      var nonceResponse = await fetch(button.dataset.siweNonceUrl || NONCE_URL, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      var nonce = await readJson(nonceResponse);
      if (!nonceResponse.ok) throw nonce;

      var message = buildMessage({
        domain: location.host,
        address: address,
        statement: "Sign in to " + siteName(),
        uri: location.origin,
        chainId: chainId,
        nonce: nonce.nonce,
        issuedAt: new Date().toISOString(),
        expirationTime: new Date(nonce.expires_at).toISOString(),
      });

      step = "wallet";
      show(status, "Sign the message in your wallet…", "info");
      var signature = await ethereum.request({ method: "personal_sign", params: [utf8Hex(message), address] });

      step = "server";
      show(status, "Checking the signature…", "info");
      var verifyResponse = await fetch(button.dataset.siweVerifyUrl || VERIFY_URL, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
        body: JSON.stringify({ message: message, signature: signature }),
      });
      var result = await readJson(verifyResponse);
      if (!verifyResponse.ok) throw result;
      show(status, "Signed in. Redirecting…", "ok");
      window.location.assign(result.redirect);
    } catch (error) {
      if (step === "server") {
        show(status, (error && error.error && error.error.message) || "The server could not be reached; try again.", "error");
      } else {
        show(status, walletErrorText(error), "error");
      }
    }
  }

  function bind() {
    document.querySelectorAll("[data-siwe-button]").forEach(function (button) {
      if (button.dataset.siweBound) return;
      button.dataset.siweBound = "1";
      button.addEventListener("click", async function (event) {
        event.preventDefault();
        if (button.disabled) return;
        button.disabled = true;
        try {
          await signIn(button);
        } finally {
          button.disabled = false;
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", bind);
  } else {
    bind();
  }
})();
