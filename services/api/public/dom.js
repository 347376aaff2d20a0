// Tiny DOM builders: no innerHTML anywhere, so text from the API (device ids, names) can never become markup.

const SVG_NS = 'http://www.w3.org/2000/svg'

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value)
    else if (name === 'text') element.textContent = value
    else if (name === 'dataset') Object.assign(element.dataset, value)
    else element.setAttribute(name, value === true ? '' : String(value))
  }
  append(element, children)
  return element
}

/** Appends strings (as text), nodes and (nested) arrays of them; skips null, undefined and false. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return parent
}

/** An HTML element: `h('a', { href: '#', class: 'x' }, 'text', otherNode)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children)
}

/** An SVG element, same arguments as `h`. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children)
}

/** A page-unique id with the given prefix. */
let counter = 0
export function uid(prefix) {
  counter += 1
  return `${prefix}-${counter}`
}

function sameAttributes(a, b) {
  if (a.attributes.length !== b.attributes.length) return false
  for (const { name, value } of a.attributes) if (b.getAttribute(name) !== value) return false
  return true
}

/**
 * Makes `target`'s children equal to `source`'s children, touching only the nodes that differ: an unchanged
 * update mutates nothing (screen readers and focus stay put). Nodes are matched by position; a node whose tag or
 * attributes differ is replaced, text is changed in place. Event listeners of replaced nodes are not carried over.
 */
export function patch(target, source) {
  const next = [...source.childNodes]
  const current = [...target.childNodes]
  next.forEach((node, i) => {
    const old = current[i]
    if (!old) target.append(node)
    else if (old.nodeType === Node.TEXT_NODE && node.nodeType === Node.TEXT_NODE) {
      if (old.data !== node.data) old.data = node.data
    } else if (old.nodeName !== node.nodeName || old.nodeType !== Node.ELEMENT_NODE || !sameAttributes(old, node)) old.replaceWith(node)
    else if (!old.isEqualNode(node)) patch(old, node)
  })
  for (let i = next.length; i < current.length; i++) current[i].remove()
}
