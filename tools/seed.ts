/**
 * The seed specification's example exchange, byte for byte: the body of its
 * `curl -X POST <url> -H "Content-Type: application/json" -d '...'` request
 * and the exact 200 answer it promises. Tests and the bundle smoke compare
 * against these literals rather than anything the code under test produces.
 */
export const SEED_BODY = `{
      "data": {
        "id": "123",
        "name": "Sample Data",
        "value": 45.67
      }
    }`;

export const SEED_SUCCESS = '{"success":true,"message":"Data inserted successfully!"}';
