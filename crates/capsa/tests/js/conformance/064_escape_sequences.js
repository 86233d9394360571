// expect: ["ABC😀","tab\there","line1\nline2","quote's \"double\"","back`tick ${not interpolated}","\\backslash",9,"continued",true,[11,12,8,13],3,4,true,2,"\"\\u0007\\u001f\\b\\f\"",true,"A"]
// covers: string escape sequences (\x, \u, \u{}, \0, \v \f \b \r, line continuation, quotes, backslash), non-escapes, JSON escaping of control characters
const parts = [
  '\x41\u0042\u{43}\u{1F600}',
  'tab\there',
  'line1\nline2',
  'quote\'s "double"',
  `back\`tick \${not interpolated}`,
  '\\backslash',
  'null\0char'.length,
  'con\
tinued',
  '\u00e9' === 'é',
  '\v\f\b\r'.split('').map(c => c.charCodeAt(0)),
  'a\u200Bb'.length,
  String.raw`\x41`.length,
  /\x41\u{42}/u.test('AB'),
  '\u{10FFFF}'.length,
  JSON.stringify('\u0007\u001f\b\f'),
  '\q\%' === 'q%',
  '\u{000041}',
];
parts
