import { isJsonContentType } from '../../../lambda-src/http/content-type';

describe('isJsonContentType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON; CHARSET=UTF-8', 'application/json;charset="utf-8"', ' application/json ; '])(
    'accepts %j',
    (header) => expect(isJsonContentType(header)).toBe(true),
  );

  it.each([
    undefined,
    '',
    'text/plain',
    'application/jsonp',
    'application/ld+json',
    'application/json; charset=utf8',
    'application/json; charset=iso-8859-1',
    'application/json; charset',
    'application/json; boundary=x',
    'application/json; charset=utf-8; q=1',
  ])('refuses %j', (header) => expect(isJsonContentType(header)).toBe(false));
});
