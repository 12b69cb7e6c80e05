/** A page of realistic size (~2 KB of source) whose output names its version. */
export function pageSource(version: number): string {
  const rows = Array.from(
    { length: 30 },
    (_, i) => `  { id: ${i}, name: "item ${i}", price: ${i * 3 + 0.99} },`,
  ).join("\n");
  return `// version ${version}
const items = [
${rows}
];

export default function page() {
  const list = items.map((item) => \`<li>\${item.name}: \${item.price}</li>\`);
  return \`<h1>version ${version}</h1><ul>\${list.join("")}</ul>\`;
}
`;
}
