"use strict";
// Many files at once on a ManagedFilesAdmin's add page (file_lifecycle/admin.py), each sent in
// a request of its own with a progress bar: to the bucket when the page offers it
// (data-upload-direct, file_lifecycle/direct_uploads.py), else through the app. Sizes are
// checked before anything is sent. Without JavaScript the page is the plain form.
// The admin loads it in the page's head, before the form: it starts once the page is read.
document.addEventListener("DOMContentLoaded", () => {
  const input = document.querySelector("input[type=file][data-upload-limit]");
  if (!input) {
    return;
  }
  const form = input.form;
  const limit = Number(input.dataset.uploadLimit);
  const tooLarge = `This file is too large: files can be ${input.dataset.uploadLimitText} at most.`;
  // Parts of a large file sent to a bucket at once: one connection alone is slower than the
  // bucket, and Chromium opens at most six to one host. Files go one after another: each
  // answer updates the admin's messages (a cookie or the session), which answers arriving
  // together would overwrite.
  const PARTS_AT_ONCE = 6;
  let direct = input.dataset.uploadDirect || null;

  if (input.dataset.uploadMany !== "true") {
    // The change page: one file, checked before the whole form is sent.
    form.addEventListener("submit", (event) => {
      const file = input.files[0];
      showFieldError(file && file.size > limit ? tooLarge : null);
      if (file && file.size > limit) {
        event.preventDefault();
      }
    });
    return;
  }

  input.multiple = true;
  const zone = input.closest(".form-row") || input.parentElement;
  zone.classList.add("upload-drop-zone");
  const hint = document.createElement("p");
  hint.className = "help upload-hint";
  hint.textContent = "Choose several files, or drop them here.";
  (input.closest(".flex-container") || input).after(hint);
  const list = document.createElement("ul");
  list.className = "upload-list";
  list.setAttribute("aria-live", "polite");
  zone.append(list);
  let items = [];

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("upload-drag-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("upload-drag-over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("upload-drag-over");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  input.addEventListener("change", () => {
    list.replaceChildren();
    items = Array.from(input.files, (file) => new Item(file));
  });

  form.addEventListener("submit", (event) => {
    if (!items.length) {
      return; // the form as it is: the server says what is missing
    }
    event.preventDefault();
    const buttons = form.querySelectorAll("[type=submit]");
    buttons.forEach((button) => (button.disabled = true));
    const uploads = items.filter((item) => !item.failed);
    const each = async () => {
      for (const item of uploads) {
        await item.upload();
      }
    };
    each().then(() => {
      const failed = items.filter((item) => item.failed).length;
      if (!failed) {
        window.location.assign(
          event.submitter && event.submitter.name === "_addanother"
            ? window.location.pathname
            : input.dataset.uploadDone
        );
        return;
      }
      buttons.forEach((button) => (button.disabled = false));
      const summary = document.createElement("li");
      summary.className = "upload-summary";
      summary.textContent =
        `${items.length - failed} of ${items.length} file(s) uploaded; ` +
        "the others were not saved (the reason is beside each). ";
      const link = document.createElement("a");
      link.href = input.dataset.uploadDone;
      link.textContent = "See the list";
      summary.append(link);
      list.append(summary);
      items = [];
      input.value = "";
    });
  });

  class Item {
    constructor(file) {
      this.file = file;
      this.failed = false;
      this.element = document.createElement("li");
      this.element.className = "upload-item";
      const name = document.createElement("span");
      name.className = "upload-name";
      name.textContent = file.name;
      this.bar = document.createElement("progress");
      this.bar.max = file.size || 1;
      this.bar.value = 0;
      this.bar.setAttribute("aria-label", file.name);
      this.status = document.createElement("span");
      this.status.className = "upload-status";
      this.status.textContent = `${size(file.size)}, waiting`;
      this.element.append(name, this.bar, this.status);
      list.append(this.element);
      if (file.size > limit) {
        this.fail(tooLarge);
      }
    }

    async upload() {
      this.started = performance.now();
      try {
        if (direct) {
          try {
            await this.toBucket();
          } catch (error) {
            if (!error.bucketRefused) {
              throw error;
            }
            // A bucket without CORS for this site, or refusing the presigned request: this
            // file and the next go through the app.
            direct = null;
            this.note = "The bucket refused the browser's upload: sent through the site.";
            this.started = performance.now();
            await this.throughApp();
          }
        } else {
          await this.throughApp();
        }
        this.bar.value = this.bar.max;
        this.status.textContent = `${size(this.file.size)}, saved`;
        this.element.classList.add("upload-done");
        if (this.note) {
          this.status.textContent += ` (${this.note})`;
        }
      } catch (error) {
        this.fail(error.message);
      }
    }

    fail(message) {
      this.failed = true;
      this.element.classList.add("upload-failed");
      this.status.textContent = "";
      const errors = document.createElement("ul");
      errors.className = "errorlist";
      const line = document.createElement("li");
      line.textContent = message;
      errors.append(line);
      this.status.append(errors);
    }

    progress(loaded) {
      this.bar.value = loaded;
      const seconds = (performance.now() - this.started) / 1000;
      const rate = seconds > 0 ? `, ${size(loaded / seconds)}/s` : "";
      this.status.textContent = `${size(loaded)} of ${size(this.file.size)}${rate}`;
    }

    throughApp() {
      const data = new FormData(form);
      data.set(input.name, this.file, this.file.name);
      return send("POST", form.action, data, (loaded) => this.progress(loaded), {
        Accept: "application/json",
      });
    }

    async toBucket() {
      const start = await postJSON(`${direct}start/`, {
        name: this.file.name,
        size: this.file.size,
      });
      try {
        if (start.post) {
          const data = new FormData();
          Object.entries(start.post.fields).forEach(([name, value]) => data.append(name, value));
          data.append("file", this.file);
          await send("POST", start.post.url, data, (loaded) => this.progress(loaded), {}, true);
        } else {
          await this.parts(start);
        }
      } catch (error) {
        // Its parts are billed until aborted; an object sent whole has no row, and is
        // removed by reconcile_media if this fails too.
        postJSON(`${direct}abort/`, { token: start.token }).catch(() => {});
        throw error;
      }
      await postJSON(`${direct}complete/`, { token: start.token });
    }

    // Each part in a URL the site signs for it, with its CRC-32 unless the site says the
    // bucket takes none: S3 refuses a part whose bytes are not the file's.
    parts({ token, parts: count, part_size: partSize, checksums }) {
      const loaded = new Array(count).fill(0);
      const requests = [];
      let next = 0;
      let failed = false;
      // Parts are checked and signed one at a time (reading parts at once would hold each in
      // memory, and signing requests at once would each take a thread and a database
      // connection of the site's, for an answer of a few milliseconds), each while the part
      // before it on the same connection is on its way.
      let signing = Promise.resolve();
      const prepared = [];
      const prepare = (number) => {
        if (number < count && !prepared[number]) {
          const part = this.file.slice(number * partSize, (number + 1) * partSize);
          prepared[number] = signing.then(async () => {
            if (failed) {
              throw new Error("Stopped.");
            }
            const checksum = checksums ? await crc32(part) : null;
            const data = { token, number: number + 1, checksum };
            const { url } = await postJSON(`${direct}part/`, data);
            return { part, url, checksum };
          });
          signing = prepared[number].catch(() => {});
        }
        return prepared[number];
      };
      const sendPart = async (number) => {
        const { part, url, checksum } = await prepare(number);
        prepare(number + PARTS_AT_ONCE);
        if (failed) {
          return;
        }
        await send(
          "PUT",
          url,
          part,
          (bytes) => {
            loaded[number] = bytes;
            this.progress(loaded.reduce((sum, bytes) => sum + bytes, 0));
          },
          checksum ? { "x-amz-checksum-crc32": checksum } : {},
          true,
          requests
        );
      };
      const sendParts = async () => {
        while (next < count && !failed) {
          await sendPart(next++).catch((error) => {
            if (!failed) {
              failed = true;
              requests.forEach((xhr) => xhr.abort());
            }
            throw error;
          });
        }
      };
      return Promise.all(Array.from({ length: Math.min(PARTS_AT_ONCE, count) }, sendParts));
    }
  }

  // An XMLHttpRequest (fetch reports no upload progress) as a promise of its JSON answer.
  function send(method, url, body, onProgress, headers, toBucket = false, requests = []) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      requests.push(xhr);
      xhr.open(method, url);
      Object.entries(headers).forEach(([name, value]) => xhr.setRequestHeader(name, value));
      if (onProgress) {
        xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      }
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(toBucket ? null : JSON.parse(xhr.responseText || "{}"));
          return;
        }
        const error = new Error(toBucket ? bucketError(xhr) : appError(xhr));
        error.bucketRefused = toBucket && xhr.status === 403;
        reject(error);
      });
      xhr.addEventListener("error", () => {
        const error = new Error(
          toBucket
            ? "The bucket could not be reached."
            : "The connection to the site was lost while sending: check the network and try again."
        );
        // The browser hides why (CORS refused, or the network): the site can try.
        error.bucketRefused = toBucket;
        reject(error);
      });
      xhr.addEventListener("abort", () => reject(new Error("Stopped.")));
      xhr.send(body);
    });
  }

  // CRC-32 (zlib's, as S3's x-amz-checksum-crc32 takes it, base64), which no browser API
  // computes. Eight bytes a step through eight tables ("slicing-by-8"): reading the file is
  // then the slower half.
  const CRC_TABLES = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    CRC_TABLES[n] = c;
  }
  for (let i = 256; i < CRC_TABLES.length; i++) {
    const previous = CRC_TABLES[i - 256];
    CRC_TABLES[i] = (previous >>> 8) ^ CRC_TABLES[previous & 255];
  }
  const T = CRC_TABLES;

  async function crc32(blob) {
    const READ_AT_ONCE = 32 * 1024 * 1024; // fewer, larger reads are faster (Chromium)
    let crc = -1;
    for (let offset = 0; offset < blob.size; offset += READ_AT_ONCE) {
      const buffer = await blob.slice(offset, offset + READ_AT_ONCE).arrayBuffer();
      // Little-endian words, as every browser's platform is.
      const words = new Int32Array(buffer, 0, (buffer.byteLength >> 3) << 1);
      for (let i = 0; i < words.length; i += 2) {
        const a = words[i] ^ crc;
        const b = words[i + 1];
        crc =
          T[1792 + (a & 255)] ^ T[1536 + ((a >>> 8) & 255)] ^
          T[1280 + ((a >>> 16) & 255)] ^ T[1024 + (a >>> 24)] ^
          T[768 + (b & 255)] ^ T[512 + ((b >>> 8) & 255)] ^
          T[256 + ((b >>> 16) & 255)] ^ T[b >>> 24];
      }
      for (const byte of new Uint8Array(buffer, words.length * 4)) {
        crc = T[(crc ^ byte) & 255] ^ (crc >>> 8);
      }
    }
    crc = (crc ^ -1) >>> 0;
    return btoa(String.fromCharCode(crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255));
  }

  function postJSON(url, data) {
    return send("POST", url, JSON.stringify(data), null, {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
    });
  }

  function appError(xhr) {
    try {
      return JSON.parse(xhr.responseText).error;
    } catch {
      if (xhr.status === 413) {
        return tooLarge;
      }
      return `The site answered ${xhr.status} ${xhr.statusText}: try again, or reload the page.`;
    }
  }

  function bucketError(xhr) {
    const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText || "");
    return `The bucket refused the file (${code ? code[1] : xhr.status}).`;
  }

  function showFieldError(message) {
    const row = input.closest(".form-row") || input.parentElement;
    row.querySelectorAll(".upload-error").forEach((element) => element.remove());
    if (message) {
      const errors = document.createElement("ul");
      errors.className = "errorlist upload-error";
      const line = document.createElement("li");
      line.textContent = message;
      errors.append(line);
      row.prepend(errors);
    }
  }

  // Sizes as the server writes them (file_lifecycle.fields.format_size): decimal units,
  // 1 MB is 1,000,000 bytes, as UPLOAD_MAX_SIZE=100MB is read.
  function size(bytes) {
    const units = [[1e12, "TB"], [1e9, "GB"], [1e6, "MB"], [1e3, "kB"]];
    for (const [factor, unit] of units) {
      if (bytes >= factor) {
        return `${(bytes / factor).toFixed(1).replace(/\.0$/, "")}\u00a0${unit}`;
      }
    }
    return bytes === 1 ? "1\u00a0byte" : `${Math.round(bytes)}\u00a0bytes`;
  }
});
