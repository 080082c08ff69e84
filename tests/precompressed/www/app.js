// The precompressed fixture's script: only a .gz sibling (no .br), so br-only clients get this.
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("a[href^='http']")) {
    link.setAttribute("rel", "noopener noreferrer");
  }
});
