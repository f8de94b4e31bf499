// The console's only script of its own: copying a shown-once key. The Clipboard API exists only on secure
// origins (https, localhost); elsewhere the text is selected so Ctrl+C does it.
window.gapuraConsole = {
  ready: function () { document.body.setAttribute("data-console-interactive", ""); },
  copy: async function (id) {
    const input = document.getElementById(id);
    if (!input) return false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(input.value);
        return true;
      }
    } catch (e) { /* fall through to selecting */ }
    input.focus();
    input.select();
    return document.execCommand && document.execCommand("copy");
  },
  download: function (name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type: type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    // Revoked only after the browser has started reading it: revoking at once leaves an empty file.
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 0);
  },
};
