/** Property-based fuzzing of the API function's `POST /` (see `fuzz.ts` for what each input must satisfy). */
import { apiRequest } from './arbitraries';
import { describeFuzz } from './fuzz';
import { apiVerdict } from './oracle';

describeFuzz('api', apiRequest, apiVerdict);
