import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project';
import { shortHash } from './naming';

/**
 * The `google_project` data source for `projectId` (or the provider's default
 * project), one per stack however many constructs ask for it.
 */
export function projectData(scope: Construct, projectId?: string): DataGoogleProject {
  const stack = TerraformStack.of(scope);
  const id = projectId === undefined ? 'google-project' : `google-project-${shortHash(projectId)}`;
  const existing = stack.node.tryFindChild(id);
  if (existing) return existing as DataGoogleProject;
  return new DataGoogleProject(stack, id, projectId === undefined ? {} : { projectId });
}

/** IAM member of the Pub/Sub service agent of a project, from its number. */
export function pubsubServiceAgentMember(project: DataGoogleProject): string {
  return `serviceAccount:service-${project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}
