// A small element builder shared by the room page's modules (no framework, no innerHTML).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "for") node.htmlFor = value;
    else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role") {
      node.setAttribute(name, value === true ? "" : value);
    } else node[name] = value;
  }
  node.append(...children.filter((c) => c != null));
  return node;
}
