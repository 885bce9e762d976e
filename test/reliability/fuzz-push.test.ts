/** Property-based fuzzing of the Pub/Sub push subscriber (see `fuzz.ts` for what each input must satisfy). */
import { pushRequest } from './arbitraries';
import { describeFuzz } from './fuzz';
import { pushVerdict } from './oracle';

describeFuzz('subscriber', pushRequest, pushVerdict);
